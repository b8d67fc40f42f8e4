/** Statuses worth another attempt: the provider is busy or briefly broken. */
export const transient = (status: number) => status === 408 || status === 429 || status >= 500;
