export * from "./access-token";
export * from "./authenticator";
export * from "./directory";
export * from "./permissions";
export * from "./platform";
export * from "./principal";
export * from "./service-token-source";
export * from "./token-verifier";
