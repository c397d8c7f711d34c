/**
 * A configured location (binhost/location.ts) to a working backend: the
 * backend for its kind, wrapped in retry. Nothing connects until first use.
 */
import { openFileBinhost } from './file.ts';
import { openHttpBinhost } from './http.ts';
import { withRetry, type RetryOptions } from './retry.ts';
import { openSftpBinhost } from './sftp.ts';
import type { BinhostBackend, Location } from './types.ts';

export interface OpenBinhostOptions {
  /** HOME, USER, SSH_AUTH_SOCK for SFTP. */
  env: NodeJS.ProcessEnv;
  retry?: RetryOptions;
}

export function openBinhost(location: Location, options: OpenBinhostOptions): BinhostBackend {
  return withRetry(openRaw(location, options.env), options.retry);
}

function openRaw(location: Location, env: NodeJS.ProcessEnv): BinhostBackend {
  switch (location.kind) {
    case 'file':
      return openFileBinhost(location.root);
    case 'http':
      return openHttpBinhost({
        url: location.url,
        ...(location.caFile === undefined ? {} : { caFile: location.caFile }),
      });
    case 'sftp':
      return openSftpBinhost({ ...location, env });
  }
}
