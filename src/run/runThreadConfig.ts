/** The LangGraph config that names a run's thread, and the checkpoint to continue from when one is chosen. */
export function runThreadConfig(runId: string, checkpointId?: string): { configurable: { thread_id: string; checkpoint_id?: string } } {
  return { configurable: { thread_id: runId, ...(checkpointId ? { checkpoint_id: checkpointId } : {}) } };
}
