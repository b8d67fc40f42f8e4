export * from "./database";
export * from "./server";
export * from "./spawn";
export * from "./tokens";
