import type { CallContext } from "./context";

/** The shape of one method in a ts-proto `outputServices=grpc-js` service definition. */
export interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (value: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

export type ServiceDefinitionLike = Record<string, MethodDefinition>;

export type RequestOf<M> = M extends { requestDeserialize: (value: Buffer) => infer R } ? R : never;
export type ResponseOf<M> = M extends { responseDeserialize: (value: Buffer) => infer R } ? R : never;

/** A server-streaming response: `write` waits while the client is slow (backpressure). */
export interface ResponseStream<T> {
  write(message: T): Promise<void>;
}

/** The async function a service writes for one RPC, by streaming kind. */
export type Handler<M> = M extends { requestStream: false; responseStream: false }
  ? (request: RequestOf<M>, context: CallContext) => Promise<ResponseOf<M>>
  : M extends { requestStream: false; responseStream: true }
    ? (request: RequestOf<M>, context: CallContext, stream: ResponseStream<ResponseOf<M>>) => Promise<void>
    : M extends { requestStream: true; responseStream: false }
      ? (requests: AsyncIterable<RequestOf<M>>, context: CallContext) => Promise<ResponseOf<M>>
      : never;

export type Handlers<D> = { [K in keyof D]: Handler<D[K]> };

/** The proto method name ("Charge") and full service name from a definition path. */
export function splitPath(path: string): { service: string; method: string } {
  const [, service = "", method = ""] = path.split("/");
  return { service, method };
}
