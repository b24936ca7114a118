/** A Kubernetes API error, rendered as a metav1.Status with the message kubectl prints. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `replicasets.apps` / `pods`: how the API names a resource in messages. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const notFound = (group: string, resource: string, name: string) =>
  new ApiError(404, 'NotFound', `${qualifiedResource(group, resource)} "${name}" not found`, { name, ...(group ? { group } : {}), kind: resource });

export const alreadyExists = (group: string, resource: string, name: string) =>
  new ApiError(409, 'AlreadyExists', `${qualifiedResource(group, resource)} "${name}" already exists`, { name, ...(group ? { group } : {}), kind: resource });

export const conflict = (group: string, resource: string, name: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group ? { group } : {}), kind: resource },
  );

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);

export const gone = (message: string) => new ApiError(410, 'Expired', message);

export const invalid = (kind: string, group: string, name: string, causes: { field: string; reason: string; message: string }[]) =>
  new ApiError(
    422,
    'Invalid',
    `${kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { name, ...(group ? { group } : {}), kind, causes },
  );
