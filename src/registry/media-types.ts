/** The manifest media types buildit reads and writes (OCI image-spec and Docker's v2 schema 2). */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const MANIFEST_TYPES: readonly string[] = [OCI_MANIFEST, DOCKER_MANIFEST];
export const INDEX_TYPES: readonly string[] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
/** What a pull accepts, images and indexes alike. */
export const ALL_MANIFEST_TYPES: readonly string[] = [...MANIFEST_TYPES, ...INDEX_TYPES];
