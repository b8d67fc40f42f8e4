export interface HttpResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
  body: any;
}

export interface HttpCallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the request after this long (a fault test's bound on any one call). */
  timeoutMs?: number;
}

/** JSON over HTTP to the edge, as an app would call it: `call("GET", "/v1/me", { token })`. */
export function httpClient(baseUrl: string) {
  return {
    async call(method: string, path: string, options: HttpCallOptions = {}): Promise<HttpResponse> {
      const response = await fetch(baseUrl + path, {
        method,
        headers: {
          ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        ...(options.body !== undefined
          ? { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) }
          : {}),
        ...(options.timeoutMs ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.status, headers: response.headers, body };
    },
  };
}
