export * from "./client";
export * from "./context";
export * from "./health";
export * from "./method-types";
export * from "./options";
export * from "./server";
export * from "./shutdown";
export * from "./text";
