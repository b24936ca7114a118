import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../src/sandbox/apiserver/errors.js';
import { decodeKubernetesProtobuf } from '../../../src/sandbox/apiserver/protobuf.js';

/** Bytes as kubectl 1.33 sent them (`kubectl create namespace foo2 -v=9`). */
const NAMESPACE = Buffer.from('6b3873000a0f0a02763112094e616d657370616365121c0a140a04666f6f3212001a0022002a0032003800420012001a020a001a002200', 'hex');

// A tiny protobuf writer, to build bodies field by field.
const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const field = (no: number, bytes: Buffer | string): Buffer => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return Buffer.from([...varint((no << 3) | 2), ...varint(b.length), ...b]);
};
const num = (no: number, n: number): Buffer => Buffer.from([...varint(no << 3), ...varint(n)]);
const envelope = (apiVersion: string, kind: string, raw: Buffer) => Buffer.concat([Buffer.from('k8s\0', 'latin1'), field(1, Buffer.concat([field(1, apiVersion), field(2, kind)])), field(2, raw)]);

function status(fn: () => unknown): { code: number; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('no error');
}

describe('protobuf request bodies (kubectl ≥ 1.33 typed clients)', () => {
  it('decodes the Namespace kubectl sends, leaving Go\'s zero values out', () => {
    expect(decodeKubernetesProtobuf(NAMESPACE)).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'foo2' } });
  });

  it.each([
    [
      'a ConfigMap with data and labels',
      envelope('v1', 'ConfigMap', Buffer.concat([field(1, Buffer.concat([field(1, 'zone'), field(11, Buffer.concat([field(1, 'app'), field(2, 'web')]))])), field(2, Buffer.concat([field(1, 'a'), field(2, 'b')]))])),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'zone', labels: { app: 'web' } }, data: { a: 'b' } },
    ],
    [
      'a Secret: bytes become base64, immutable kept even when false (a pointer)',
      envelope('v1', 'Secret', Buffer.concat([field(1, field(1, 's')), field(2, Buffer.concat([field(1, 'pw'), field(2, 'hunter2')])), field(3, 'Opaque'), num(5, 0)])),
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { pw: Buffer.from('hunter2').toString('base64') }, type: 'Opaque', immutable: false },
    ],
    [
      'a Deployment: replicas 0 kept (a pointer), an unset minReadySeconds left out',
      envelope('apps/v1', 'Deployment', Buffer.concat([field(1, field(1, 'd')), field(2, Buffer.concat([num(1, 0), num(5, 0), field(3, field(2, field(2, Buffer.concat([field(1, 'web'), field(2, 'nginx')]))))]))])),
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 0, template: { spec: { containers: [{ name: 'web', image: 'nginx' }] } } } },
    ],
    [
      'a Service: targetPort as IntOrString',
      envelope('v1', 'Service', Buffer.concat([field(1, field(1, 'svc')), field(2, field(1, Buffer.concat([num(3, 80), field(4, Buffer.concat([num(1, 1), field(3, 'http')]))])))])),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80, targetPort: 'http' }] } },
    ],
  ])('decodes %s', (_name, body, json) => {
    expect(decodeKubernetesProtobuf(body)).toEqual(json);
  });

  it('refuses what it cannot read with a 415 that names it, never drops it', () => {
    expect(status(() => decodeKubernetesProtobuf(envelope('v1', 'ConfigMap', Buffer.concat([field(1, field(1, 'x')), field(9, 'surprise')]))))).toEqual({
      code: 415,
      message: expect.stringContaining('cannot decode field 9 of ConfigMap from protobuf; send JSON instead') as unknown as string,
    });
    expect(status(() => decodeKubernetesProtobuf(envelope('v1', 'Pod', field(1, field(1, 'p')))))).toMatchObject({ code: 415, message: expect.stringContaining('a Pod (v1)') as unknown as string });
  });

  it('answers 400 to a truncated or unwrapped body', () => {
    expect(status(() => decodeKubernetesProtobuf(NAMESPACE.subarray(0, 20))).code).toBe(400);
    expect(status(() => decodeKubernetesProtobuf(Buffer.from('{"kind":"Namespace"}'))).code).toBe(400);
  });
});
