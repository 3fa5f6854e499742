import { defineConfig } from 'vite';

/**
 * The explorer builds to web/dist, which the coordinator serves at `/`. `npm run build:web`.
 * During development, `npx vite web` proxies the API to a coordinator on PLEXUS_COORDINATOR.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  server: {
    proxy: { '/v1': process.env.PLEXUS_COORDINATOR ?? 'http://127.0.0.1:8080' },
  },
});
