export * from "./app-error";
export * from "./database";
export * from "./grpc-status";
