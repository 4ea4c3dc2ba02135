// The ES module build of @smithy/signature-v4 (imported by path so the bundle gets it rather than the
// CommonJS build); same API as the package's main entry.
declare module '@smithy/signature-v4/dist-es/index.js' {
  export * from '@smithy/signature-v4';
}
