import type { Engine, JobQueue } from '@tokencast/engine';
import { type GenerationMeta, type GenerationRequest, NotFoundError, newGenerationId, queuedMeta } from '@tokencast/protocol';
import type { ModelRouting } from '@tokencast/runtime';

/** Accepting a generation: the model must be served here; then its meta is stored and it is queued. */
export class GenerationService {
  constructor(
    private readonly engine: Engine,
    private readonly routing: ModelRouting,
  ) {}

  /** The queue a model's generations go to. */
  queueFor(model: string): JobQueue {
    return this.engine.queueFor(this.routing.queueFor(model));
  }

  /**
   * `owner`: name of the API key submitting it ('' without keys). `beforeQueue` sees the meta
   * once it is valid and before anything is stored: nothing can be written to the generation
   * before it returns (the hub follows it then, as unwritten).
   */
  async submit(request: GenerationRequest, owner = '', beforeQueue?: (meta: GenerationMeta) => void): Promise<GenerationMeta> {
    if (!this.routing.serves(request.model)) {
      throw new NotFoundError(`The model '${request.model}' does not exist or is not served here`, 'model_not_found', { param: 'model' });
    }
    const meta = queuedMeta(newGenerationId(), request, owner);
    beforeQueue?.(meta);
    await this.queueFor(request.model).enqueue(meta);
    return meta;
  }
}
