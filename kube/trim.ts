// What no heraldlb program reads, dropped before an object is cached. At 10,000 Services the
// informer cache is the controller's largest memory user, and two fields are most of a
// typical object: managedFields (a field-by-field ownership record per writer) and kubectl's
// last-applied-configuration annotation (a whole second copy of the object as JSON).

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

interface Trimmable {
  metadata?: { managedFields?: unknown; annotations?: Record<string, string> };
}

/** The same object without managedFields and the last-applied annotation (mutates `obj`:
 * it is a freshly parsed API answer that nothing else holds). */
export function trimObject<T extends Trimmable>(obj: T): T {
  const meta = obj.metadata;
  if (!meta) return obj;
  delete meta.managedFields;
  if (meta.annotations && LAST_APPLIED in meta.annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
  return obj;
}
