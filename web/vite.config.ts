/// <reference types="vitest/config" />
// Vite build + dev server for the Chirp web client. In development the dev server proxies the
// REST API and the WebSocket to a chirpd on 127.0.0.1:8000, so the browser sees one origin
// exactly as in production (where chirpd serves dist/ itself).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const target = 'http://127.0.0.1:8000';

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      '/api': { target, changeOrigin: false },
      '/ws': { target, ws: true, changeOrigin: false },
    },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    sourcemap: false,
    reportCompressedSize: true,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
