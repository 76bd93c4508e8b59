/** Types of the cluster-key-slot package (ioredis' own slot function; it ships none). */
declare module 'cluster-key-slot' {
  /** Redis Cluster's slot of a key: CRC16 of the key or of its `{hash tag}`, modulo 16384. */
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    /** The slot all keys share; -1 when they do not share one. */
    function generateMulti(keys: (string | Buffer)[]): number;
  }
  export default calculateSlot;
}
