/** Types for cluster-key-slot (the CRC16 slot function ioredis itself uses; the package ships none). */
declare module "cluster-key-slot" {
  /** The Redis Cluster hash slot of a key, hash tags included. */
  export default function calculateSlot(key: string | Buffer): number;
}
