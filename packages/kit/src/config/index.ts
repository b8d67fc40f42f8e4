import { BlockList, isIP } from "node:net";
import { z } from "zod";

export { z };

/** A missing or malformed environment variable, named, so the operator can fix it. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Parses environment variables against a zod shape whose keys are the variable names.
 * Throws ConfigError listing every bad variable by name (not just the first).
 */
export function parseConfig<S extends z.ZodRawShape>(
  shape: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<z.ZodObject<S>> {
  // An empty variable (`PORT=`, compose's `${X:-}`) is unset: its default applies, never "" as 0.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const result = z.object(shape).safeParse(given);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
}

/** parseConfig for entry points: a bad variable stops the process with a message naming it. */
export function loadConfig<S extends z.ZodRawShape>(shape: S): z.infer<z.ZodObject<S>> {
  try {
    return parseConfig(shape);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

/** "10.0.0.0/8, 192.168.1.7, ::1/128" → a BlockList; throws naming the first bad entry. */
export function parseNetworkList(text: string): BlockList {
  const list = new BlockList();
  for (const entry of text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)) {
    const [address = "", prefixText, ...rest] = entry.split("/");
    const version = isIP(address);
    // Digits only: "10.0.0.5/" must not read as "/0", which would be every address.
    const prefix =
      prefixText === undefined ? undefined : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
    const maxPrefix = version === 6 ? 128 : 32;
    if (version === 0 || rest.length > 0 || (prefix !== undefined && (prefix < 0 || prefix > maxPrefix)))
      throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const family = version === 6 ? "ipv6" : "ipv4";
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, prefix, family);
  }
  return list;
}

/** Building blocks for config shapes, so every service spells its variables the same way. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  postgresUrl: () => z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL"),
  redisUrl: () =>
    z
      .string()
      .regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL")
      .optional(),
  address: (fallback: string) => z.string().min(1).default(fallback),
  logLevel: () => z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  secret: (minLength = 16) => z.string().min(minLength, `must be at least ${minLength} characters`),
  /** Comma-separated items, trimmed, empty ones dropped; `fallback` when unset. */
  list: (fallback = "") =>
    z
      .string()
      .default(fallback)
      .transform((value) =>
        value
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean),
      ),
  /** Comma-separated secrets, each at least `minLength` characters; none when unset. */
  secretList: (minLength = 16) =>
    env.list().pipe(z.array(z.string().min(minLength, `each must be at least ${minLength} characters`))),
  /**
   * PAGE_TOKEN_SECRET: signs page tokens (kit/paging). Every instance of a service needs the
   * same one; `pnpm start` generates it into .data/local-secrets.json.
   */
  pageTokenSecret: () => z.string().min(32, "must be at least 32 characters (it signs page tokens)"),
  /** Comma-separated IP addresses and CIDR ranges, as a BlockList to `check()` peers against. */
  networkList: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        try {
          return parseNetworkList(value);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
          return z.NEVER;
        }
      }),
};
