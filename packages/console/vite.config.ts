import { defineConfig } from "vite";

/**
 * The console is served by the edge under /console/ with a strict Content-Security-Policy
 * (script-src 'self', style-src 'self'): no inline script or style in the output, no
 * module-preload polyfill (it is inlined otherwise), every asset a file of its own.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: "/console/",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
