// How an object is named in caches, queues and logs: "namespace/name", or "name" for a
// cluster-scoped object. One definition, so a key built here always finds what a key built
// there stored.

export interface Named {
  readonly metadata?: { readonly namespace?: string; readonly name?: string };
}

/** "namespace/name" for a namespaced object, "name" for a cluster-scoped one. */
export function objectKey(obj: Named): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

/** The key of a namespaced object from its parts. */
export const serviceKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** Splits a key back into namespace ('' when cluster-scoped) and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
