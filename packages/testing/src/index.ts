export * from "./bench";
export * from "./clock";
export * from "./database";
export * from "./errors";
export * from "./platform";
export * from "./server";
export * from "./spawn";
export * from "./tokens";
