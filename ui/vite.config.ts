import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Relative asset URLs: Tauri serves dist/ from its own origin.
  base: './',
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2021',
    // No data: URIs for fonts/scripts; everything is a file under 'self'.
    assetsInlineLimit: 0,
    // Single entry, no lazy chunks: the preload polyfill is dead weight.
    modulePreload: { polyfill: false },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
