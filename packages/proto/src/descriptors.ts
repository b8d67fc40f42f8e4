import { readFileSync } from "node:fs";

/** Binary FileDescriptorSet of every proto under protos/, with comments (see scripts/gen.mjs). */
export const descriptorSetBytes: Uint8Array = readFileSync(new URL("./descriptors.binpb", import.meta.url));
