/**
 * The image step's registry parts: a `base:` image pulled (its blobs into the
 * store, verified by digest) and put under our layers, and `push:` references
 * the finished OCI layout is pushed to. One client per registry per run.
 */
import { BuilditError, type SourceLocation } from '../errors.ts';
import { LAYER_MEDIA_TYPE, type LayerBlob } from '../image/layer.ts';
import type { Target } from '../recipe/types.ts';
import { RegistryClient } from '../registry/client.ts';
import { resolveBase } from '../registry/pull.ts';
import { retryRegistry, type RegistryError } from '../registry/errors.ts';
import { pushLayout } from '../registry/push.ts';
import { parseReference, type ImageReference } from '../registry/reference.ts';
import type { LocalStore } from '../store/store.ts';

export interface RegistryOptions {
  /** Registries (host[:port]) where plain http is allowed: --insecure-registry. */
  insecure: readonly string[];
  /** A CA file for registries' TLS, besides the system CAs and NODE_EXTRA_CA_CERTS. */
  caFile?: string;
  env: NodeJS.ProcessEnv;
  home: string;
}

export class Registries {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly options: RegistryOptions;

  constructor(options: RegistryOptions) {
    this.options = options;
  }

  client(registry: string): RegistryClient {
    let client = this.clients.get(registry);
    if (!client) {
      client = new RegistryClient({
        registry,
        insecure: this.options.insecure.includes(registry),
        ...(this.options.caFile ? { caFile: this.options.caFile } : {}),
        env: this.options.env,
        home: this.options.home,
      });
      this.clients.set(registry, client);
    }
    return client;
  }
}

/** A reference from container.yaml or the command line, its errors located there. */
export function reference(text: string, location: SourceLocation): ImageReference {
  try {
    return parseReference(text);
  } catch (error) {
    if (error instanceof BuilditError) {
      throw new BuilditError(error.code, error.message, {
        location,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    throw error;
  }
}

export interface BaseImage {
  layers: LayerBlob[];
  config: Record<string, unknown> | undefined;
  ref: ImageReference;
}

/** Pull the base image for the target platform: its layers land in the store (verified), its config is returned. */
export async function pullBase(
  ref: ImageReference,
  target: Target,
  store: LocalStore,
  registries: Registries,
  warn: (message: string) => void = () => {},
): Promise<BaseImage> {
  const client = registries.client(ref.registry);
  const retry = { onRetry: retryWarning(warn) };
  const base = await retryRegistry(() => resolveBase(ref, client, target), retry);
  // A single-platform image names its platform only in its config.
  const os = base.config['os'];
  const arch = base.config['architecture'];
  if ((os !== undefined && os !== target.os) || (arch !== undefined && arch !== target.arch)) {
    throw new BuilditError(
      'BUILDIT_REGISTRY_PLATFORM',
      `base image ${ref.text} is ${String(os)}/${String(arch)}, not ${target.os}/${target.arch}`,
      {
        exitCode: 1,
        hint: 'pick a base image (or an index) that has the target platform, or change the os/arch vars',
      },
    );
  }
  const rootfs = (base.config['rootfs'] ?? {}) as { diff_ids?: string[] };
  const history = (
    (base.config['history'] as { created_by?: string; empty_layer?: boolean }[] | undefined) ?? []
  ).filter((h) => !h.empty_layer);
  const layers: LayerBlob[] = [];
  for (const [i, layer] of base.layers.entries()) {
    const hex = layer.digest.replace(/^sha256:/, '');
    if (!(await store.hasBlob(hex))) {
      const what = `layer ${layer.digest} of ${ref.text}`;
      await retryRegistry(
        async () => store.putBlob(await client.getBlob(ref.repository, layer.digest), { hex, what }),
        retry,
      );
    }
    const diffId = rootfs.diff_ids?.[i];
    if (!diffId) {
      throw new BuilditError(
        'BUILDIT_REGISTRY_BASE',
        `base image ${ref.text}: its config names no diff_id for layer ${i + 1}`,
        {
          exitCode: 1,
          hint: 'the base image is malformed; pick another',
        },
      );
    }
    layers.push({
      digest: layer.digest,
      diffId,
      size: layer.size,
      // Docker's gzip layer type is the same bytes as OCI's.
      mediaType: (/gzip$/.test(layer.mediaType)
        ? LAYER_MEDIA_TYPE
        : layer.mediaType) as typeof LAYER_MEDIA_TYPE,
      open: () => store.openBlob(hex),
      file: store.blobFile(hex),
      createdBy: history[i]?.created_by ?? `base ${ref.text}`,
    });
  }
  return { layers, config: base.config['config'] as Record<string, unknown> | undefined, ref };
}

/** Push a written OCI layout to each reference; returns the manifest digests. */
export async function pushImage(
  layout: string,
  tag: string,
  refs: readonly ImageReference[],
  registries: Registries,
  base: ImageReference | undefined,
  warn: (message: string) => void = () => {},
): Promise<{ ref: string; digest: string }[]> {
  const out: { ref: string; digest: string }[] = [];
  for (const ref of refs) {
    const client = registries.client(ref.registry);
    // Base layers already in the same registry are mounted, not uploaded again.
    const mountFrom = base && base.registry === ref.registry ? [base.repository] : [];
    const { digest } = await pushLayout(layout, tag, ref, client, { mountFrom, onRetry: retryWarning(warn) });
    out.push({ ref: ref.text, digest });
  }
  return out;
}

/** Says that a registry call failed transiently and is tried again. */
function retryWarning(warn: (message: string) => void): (error: RegistryError, attempt: number) => void {
  return (error, attempt) => warn(`${error.message}; trying again (attempt ${attempt + 1} of 3)`);
}
