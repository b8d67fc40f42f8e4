export * from "./app-error";
export * from "./grpc-status";
