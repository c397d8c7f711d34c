import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, sha256Hex } from '../../src/identity/canonical.ts';

/** The IEEE 754 double with these 64 bits. */
function double(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

test('numbers serialize as RFC 8785 Appendix B says', () => {
  for (const [bits, text] of [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ] as const) {
    assert.equal(canonicalJson(double(bits)), text, bits);
  }
});

test('numbers: -0 is 0, 1.0 is 1, exponents from 1e21 and below 1e-6', () => {
  for (const [value, text] of [
    [-0, '0'],
    [1.0, '1'],
    [4.5, '4.5'],
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [0.000001, '0.000001'],
    [-1.5e-10, '-1.5e-10'],
  ] as const) {
    assert.equal(canonicalJson(value), text, String(value));
  }
});

test('NaN and the infinities have no JSON form', () => {
  for (const value of [NaN, Infinity, -Infinity, double('7fffffffffffffff'), double('7ff0000000000000')]) {
    assert.throws(() => canonicalJson({ n: value }), String(value));
  }
});

test('keys sort by UTF-16 code units (RFC 8785 §3.2.3)', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  assert.equal(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('the RFC 8785 §3.2.4 example', () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      ' "literals": [null, true, false]}',
  ) as unknown;
  assert.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

test('strings escape only what JSON requires, with short forms and lowercase hex', () => {
  for (const [value, text] of [
    ['\u0000', '"\\u0000"'],
    ['\b\t\n\f\r', '"\\b\\t\\n\\f\\r"'],
    ['\u000b\u001f', '"\\u000b\\u001f"'],
    ['"\\', '"\\"\\\\"'],
    ['/', '"/"'],
    ['\u007f', '"\u007f"'],
    ['<&>', '"<&>"'],
    ['\u2028\u2029', '"\u2028\u2029"'],
    ['€😀', '"€😀"'],
  ] as const) {
    assert.equal(canonicalJson(value), text, JSON.stringify(value));
  }
});

test('nested objects are sorted at every level; arrays keep their order; no whitespace', () => {
  assert.equal(
    canonicalJson({ z: [3, 1, { b: 2, a: [{ d: 1, c: 0 }] }], a: { y: null, x: true }, m: 'text' }),
    '{"a":{"x":true,"y":null},"m":"text","z":[3,1,{"a":[{"c":0,"d":1}],"b":2}]}',
  );
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  assert.equal(canonicalJson([]), '[]');
  assert.equal(canonicalJson({}), '{}');
});

test('undefined members are left out, as JSON.stringify does; undefined alone cannot be serialized', () => {
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(canonicalJson([undefined]), '[null]');
  assert.throws(() => canonicalJson(undefined), TypeError);
});

test('a value with no JSON form inside an object never yields invalid JSON', () => {
  for (const value of [{ f: () => 1 }, { s: Symbol('s') }, { nested: { f: () => 1 }, ok: 1 }]) {
    let text: string;
    try {
      text = canonicalJson(value);
    } catch {
      continue; // refusing is fine
    }
    assert.doesNotThrow(() => JSON.parse(text), text);
  }
});

test('sha256Hex: pinned digests of text, bytes and canonical JSON', () => {
  for (const [input, digest] of [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [new Uint8Array([0x61, 0x62, 0x63]), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['€', 'c4cc90ed3d26f12d4b08a75140970a7904035c31cbb4515a83f19b9003c00d1d'],
    [canonicalJson({ b: 1, a: 'x' }), 'cdab067e9f3beb32d1252cfd63e492592fecbf591b0d08cadb24bb17f3864246'],
  ] as const) {
    assert.equal(sha256Hex(input), digest, String(input));
  }
  assert.equal(canonicalJson({ b: 1, a: 'x' }), '{"a":"x","b":1}');
});
