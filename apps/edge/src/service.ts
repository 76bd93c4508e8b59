import type { Engine, JobQueue } from '@tokencast/engine';
import type { ModelCatalog } from '@tokencast/producer';
import { type GenerationMeta, type GenerationRequest, NotFoundError, newGenerationId } from '@tokencast/protocol';

/** Accepting a generation: the model must be served here; then its meta is stored and it is queued. */
export class GenerationService {
  constructor(
    private readonly engine: Engine,
    private readonly catalog: ModelCatalog,
  ) {}

  /** `owner`: name of the API key submitting it ('' without keys). */
  /** The queue a model's generations go to. */
  queueFor(model: string): JobQueue {
    return this.engine.queueFor(this.catalog.queueFor(model));
  }

  async submit(request: GenerationRequest, owner = ''): Promise<GenerationMeta> {
    if (!this.catalog.providerFor(request.model)) {
      throw new NotFoundError(`The model '${request.model}' does not exist or is not served here`, 'model_not_found', { param: 'model' });
    }
    const meta: GenerationMeta = {
      id: newGenerationId(),
      status: 'queued',
      kind: request.kind,
      model: request.model,
      request,
      createdAt: Date.now(),
      startedAt: 0,
      firstTokenAt: 0,
      completedAt: 0,
      owner,
      producer: '',
      fence: 0,
      lastOffset: 0,
      tokens: 0,
      finishReason: null,
      usage: null,
      error: null,
    };
    await this.queueFor(request.model).enqueue(meta);
    return meta;
  }
}
