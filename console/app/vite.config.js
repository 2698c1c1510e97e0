import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by Ward at / (console/console.go embeds ../dist).
// `npm run dev` proxies the API to a local `ward serve` on :8103.
const api = ['/fhir', '/auth', '/oauth2', '/admin', '/.well-known', '/healthcheck'];

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
    rollupOptions: {
      output: {
        // One long-lived vendor chunk (changes only with package.json),
        // the app's own code split by route.
        manualChunks(id) {
          if (id.includes('node_modules/@medplum/') || id.includes('node_modules/@mantine/')) {
            return 'medplum';
          }
          if (id.includes('node_modules/react') || id.includes('node_modules/scheduler')) {
            return 'react';
          }
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: Object.fromEntries(api.map((p) => [p, 'http://localhost:8103'])),
  },
});
