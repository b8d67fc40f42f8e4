import { createRequire } from "node:module";
import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type DescriptorProto, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

/** One file of the descriptor set: its bytes exactly as `buf build` wrote them, and its imports. */
interface StoredFile {
  bytes: Uint8Array;
  dependencies: string[];
}

/** A reflection request and response as proto-loader decodes them (grpc.reflection.v1[alpha]). */
interface ReflectionRequest {
  host?: string;
  fileByFilename?: string;
  fileContainingSymbol?: string;
  fileContainingExtension?: { containingType?: string; extensionNumber?: number };
  allExtensionNumbersOfType?: string;
  listServices?: string;
  messageRequest?: string;
}

/**
 * The files of a binary FileDescriptorSet (`repeated FileDescriptorProto file = 1`), sliced out
 * byte for byte: what a client gets is exactly what buf built, options and comments included.
 */
function splitDescriptorSet(set: Uint8Array): Uint8Array[] {
  const reader = new BinaryReader(set);
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType);
  }
  return files;
}

/**
 * gRPC server reflection (v1 and v1alpha) over Parley's real descriptor set, so grpcurl, buf curl
 * and Postman can list and call every RPC. Files are served as built (names, imports and
 * contents as in protos/), each answer with the file's transitive imports; only the services
 * this server hosts are listed.
 */
export function createReflection(descriptorSet: Uint8Array, services: string[]) {
  const files = new Map<string, StoredFile>();
  /** Fully-qualified symbol (message, enum, service, method, extension) → the file declaring it. */
  const symbols = new Map<string, string>();
  /** Extended message → field number → the file declaring the extension. */
  const extensions = new Map<string, Map<number, string>>();

  const addExtensions = (file: string, scope: string, fields: DescriptorProto["extension"]) => {
    for (const extension of fields) {
      symbols.set(`${scope}${extension.name}`, file);
      const extendee = extension.extendee.replace(/^\./, "");
      if (!extensions.has(extendee)) extensions.set(extendee, new Map());
      extensions.get(extendee)!.set(extension.number, file);
    }
  };
  const addMessages = (file: string, scope: string, messages: DescriptorProto[]) => {
    for (const message of messages) {
      const name = `${scope}${message.name}`;
      symbols.set(name, file);
      for (const nested of message.enumType) symbols.set(`${name}.${nested.name}`, file);
      addExtensions(file, `${name}.`, message.extension);
      addMessages(file, `${name}.`, message.nestedType);
    }
  };
  for (const bytes of splitDescriptorSet(descriptorSet)) {
    const proto = fromBinary(FileDescriptorProtoSchema, bytes);
    files.set(proto.name, { bytes, dependencies: proto.dependency });
    const scope = proto.package ? `${proto.package}.` : "";
    addMessages(proto.name, scope, proto.messageType);
    for (const enumType of proto.enumType) symbols.set(`${scope}${enumType.name}`, proto.name);
    addExtensions(proto.name, scope, proto.extension);
    for (const service of proto.service) {
      symbols.set(`${scope}${service.name}`, proto.name);
      for (const method of service.method) symbols.set(`${scope}${service.name}.${method.name}`, proto.name);
    }
  }
  for (const service of services)
    if (!symbols.has(service)) throw new Error(`reflection: ${service} is not in the descriptor set`);

  /** The file and every file it imports, directly or not, each once. */
  const withImports = (name: string): Uint8Array[] => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file) || !files.has(file)) return;
      seen.add(file);
      for (const dependency of files.get(file)!.dependencies) visit(dependency);
    };
    visit(name);
    return [...seen].map((file) => files.get(file)!.bytes);
  };
  const notFound = (errorMessage: string) => ({
    errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage },
  });
  const fileResponse = (name: string | undefined, what: string) =>
    name && files.has(name)
      ? { fileDescriptorResponse: { fileDescriptorProto: withImports(name) } }
      : notFound(`${what} not found`);

  const answer = (request: ReflectionRequest) => {
    switch (request.messageRequest) {
      case "listServices":
        return { listServicesResponse: { service: services.map((name) => ({ name })) } };
      case "fileByFilename":
        return fileResponse(request.fileByFilename, `file ${request.fileByFilename}`);
      case "fileContainingSymbol": {
        const symbol = request.fileContainingSymbol?.replace(/^\./, "") ?? "";
        return fileResponse(symbols.get(symbol), `symbol ${symbol}`);
      }
      case "fileContainingExtension": {
        const { containingType = "", extensionNumber = 0 } = request.fileContainingExtension ?? {};
        return fileResponse(
          extensions.get(containingType)?.get(extensionNumber),
          `extension ${extensionNumber} of ${containingType}`,
        );
      }
      case "allExtensionNumbersOfType": {
        const type = request.allExtensionNumbersOfType ?? "";
        if (!symbols.has(type)) return notFound(`type ${type} not found`);
        return {
          allExtensionNumbersResponse: {
            baseTypeName: type,
            extensionNumber: [...(extensions.get(type)?.keys() ?? [])],
          },
        };
      }
      default:
        return {
          errorResponse: { errorCode: grpc.status.UNIMPLEMENTED, errorMessage: "unknown reflection request" },
        };
    }
  };

  return {
    addToServer(server: grpc.Server) {
      const require = createRequire(import.meta.url);
      for (const version of ["v1", "v1alpha"]) {
        const definition = loadSync(
          require.resolve(`@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`),
          { longs: String, enums: String, defaults: true, oneofs: true },
        );
        const service = definition[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
        server.addService(service, {
          ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, unknown>) => {
            call.on("data", (request: ReflectionRequest) =>
              call.write({ validHost: request.host ?? "", originalRequest: request, ...answer(request) }),
            );
            call.on("end", () => call.end());
          },
        });
      }
    },
  };
}
