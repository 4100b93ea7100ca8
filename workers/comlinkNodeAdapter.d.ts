/* eslint-disable @typescript-eslint/no-explicit-any */
// Types of Comlink's Node adapter (the package ships node-adapter.d.ts beside the .mjs, but
// without an exports map NodeNext resolution does not find it).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export interface NodeEndpoint {
    postMessage(message: any, transfer?: any[]): void;
    on(type: string, listener: (...args: any[]) => void): unknown;
    off(type: string, listener: (...args: any[]) => void): unknown;
    start?: () => void;
  }
  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
