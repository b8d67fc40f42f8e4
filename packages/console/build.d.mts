/** The console's build folder (packages/console/dist). */
export declare const CONSOLE_DIST: string;
/** Builds the console with Vite when its sources changed since the last build (or when forced). */
export declare function buildConsole(options?: {
  force?: boolean;
  quiet?: boolean;
}): Promise<{ built: boolean }>;
