import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { invalidArgument, validationFailed } from "../errors";
import { isUuid } from "../ids";

/** How a List RPC sizes its pages: 0 asks for `default`, anything above `max` gets `max`. */
export interface PageSizes {
  default: number;
  max: number;
}

/** The paging fields every List request has. */
export interface PageRequest {
  pageSize: number;
  pageToken: string;
}

/** How one RPC writes its cursor into a token and reads it back (undefined: not a cursor). */
export interface CursorCodec<C> {
  encode(cursor: C): unknown;
  decode(value: unknown): C | undefined;
}

/** One page of one query. */
export interface Page<C> {
  /** How many items to return. */
  size: number;
  /** Where the previous page ended; undefined on the first page. */
  after: C | undefined;
  /** The next_page_token for a page ending at `cursor`; "" when there is nothing more (undefined). */
  next(cursor: C | undefined): string;
}

export interface OpenPageOptions<C> {
  /**
   * What the token is for: the RPC and everything that selects its rows (the caller, filters,
   * sort). A token only opens the query it was issued for.
   */
  query: unknown[];
  sizes: PageSizes;
  cursor: CursorCodec<C>;
}

export interface Paging {
  /** Reads page_size and page_token by the one rule; throws INVALID_ARGUMENT for bad ones. */
  open<C>(request: PageRequest, options: OpenPageOptions<C>): Page<C>;
}

const MAC_LENGTH = 22; // base64url characters: 132 bits of HMAC-SHA256

/** The one page_size rule: negative is refused, 0 is the default, above the maximum is clamped. */
export function pageSize(requested: number, sizes: PageSizes): number {
  if (!Number.isInteger(requested) || requested < 0)
    throw validationFailed([{ field: "page_size", description: "must not be negative" }]);
  return Math.min(requested || sizes.default, sizes.max);
}

const invalidToken = () =>
  invalidArgument("INVALID_PAGE_TOKEN", "page_token is not one this query returned", {
    fieldViolations: [{ field: "page_token", description: "was not issued for this query, or was changed" }],
  });

/**
 * Page tokens signed with `secret` (PAGE_TOKEN_SECRET, the same for every instance of a
 * service): base64url JSON of the cursor, then an HMAC-SHA256 over the query and the cursor.
 * Any edit — or a token from another query, caller or RPC — is INVALID_PAGE_TOKEN. Tokens are
 * opaque to clients and keyset cursors only: no offsets, nothing secret inside. Without a
 * secret (a service built in-process by a test) the key is this process's own.
 */
export function createPaging(secret: string = randomBytes(32).toString("base64url")): Paging {
  if (secret.length < 32) throw new Error("the page token secret must be at least 32 characters");
  const mac = (query: string, payload: string) =>
    createHmac("sha256", secret)
      .update(query)
      .update("\n")
      .update(payload)
      .digest("base64url")
      .slice(0, MAC_LENGTH);
  return {
    open(request, options) {
      const size = pageSize(request.pageSize, options.sizes);
      const query = JSON.stringify(options.query, (_, value) =>
        typeof value === "bigint" ? value.toString() : value,
      );
      let after: ReturnType<typeof options.cursor.decode>;
      if (request.pageToken) {
        const [payload = "", signature = "", ...rest] = request.pageToken.split(".");
        const given = Buffer.from(signature);
        const expected = Buffer.from(mac(query, payload));
        // Compared as bytes: a signature of as many characters, some beyond ASCII, is longer.
        if (rest.length > 0 || given.length !== expected.length || !timingSafeEqual(given, expected))
          throw invalidToken();
        try {
          after = options.cursor.decode(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
        } catch {
          throw invalidToken();
        }
        if (after === undefined) throw invalidToken();
      }
      return {
        size,
        after,
        next(cursor) {
          if (cursor === undefined) return "";
          const payload = Buffer.from(JSON.stringify(options.cursor.encode(cursor))).toString("base64url");
          return `${payload}.${mac(query, payload)}`;
        },
      };
    },
  };
}

const DECIMAL = /^\d{1,19}$/;

/** Cursors most lists use. */
export const cursors = {
  /** A UUID (the last row's id, in id order). */
  uuid: {
    encode: (id: string) => id,
    decode: (value: unknown) => (typeof value === "string" && isUuid(value) ? value : undefined),
  } satisfies CursorCodec<string>,
  /** A non-negative int64 (entry ids, sequence numbers). */
  int64: {
    encode: (n: bigint) => n.toString(),
    decode: (value: unknown) =>
      typeof value === "string" && DECIMAL.test(value) && BigInt(value) <= 2n ** 63n - 1n
        ? BigInt(value)
        : undefined,
  } satisfies CursorCodec<bigint>,
  /** A timestamp and an id (rows in created_at, id order). */
  timeAndId: {
    encode: ({ at, id }: { at: Date; id: string }) => [at.toISOString(), id],
    decode: (value: unknown) => {
      if (!Array.isArray(value) || value.length !== 2) return undefined;
      const [at, id] = value as unknown[];
      const date = typeof at === "string" ? new Date(at) : undefined;
      return date && !Number.isNaN(date.getTime()) && typeof id === "string" && isUuid(id)
        ? { at: date, id }
        : undefined;
    },
  } satisfies CursorCodec<{ at: Date; id: string }>,
};
