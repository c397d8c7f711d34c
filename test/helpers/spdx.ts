/**
 * SPDX 2.3 checks for the SBOM tests: the JSON schema in
 * test/fixtures/spdx (written from the SPDX 2.3 specification; no SPDX
 * schema is installable here from npm or Debian), checked with Ajv, plus
 * what a schema cannot say: SPDX ids are unique and every relationship
 * names an element of the document.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const schema = JSON.parse(
  readFileSync(new URL('../fixtures/spdx/spdx-2.3.schema.json', import.meta.url), 'utf8'),
) as object;
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
addFormats(ajv);
const validate = ajv.compile(schema);

/** Every problem found; empty when the document is a valid SPDX 2.3 document. */
export function spdxProblems(document: unknown): string[] {
  const problems: string[] = [];
  if (!validate(document)) {
    for (const e of validate.errors ?? []) problems.push(`${e.instancePath || '/'} ${e.message ?? ''}`);
    return problems;
  }
  const doc = document as {
    packages?: { SPDXID: string }[];
    relationships?: { spdxElementId: string; relatedSpdxElement: string }[];
  };
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const p of doc.packages ?? []) {
    if (ids.has(p.SPDXID)) problems.push(`duplicate SPDXID ${p.SPDXID}`);
    ids.add(p.SPDXID);
  }
  for (const r of doc.relationships ?? []) {
    for (const id of [r.spdxElementId, r.relatedSpdxElement]) {
      if (!ids.has(id) && id !== 'NONE' && id !== 'NOASSERTION')
        problems.push(`relationship names unknown ${id}`);
    }
  }
  if (!(doc.relationships ?? []).some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT'))
    problems.push('the document describes nothing (no DESCRIBES relationship)');
  return problems;
}
