import { type EdgeConfig, edgeConfigFromEnv, edgeSections } from '@tokencast/edge';
import { type ProducerConfig, producerSection, producerSettings } from '@tokencast/producer';
import { type ConfigSection, type Env, type SharedConfig, sharedConfig, sharedSections } from '@tokencast/runtime';

/** `npm start` reads what the edge and the producer read, once. */
export function embeddedConfig(env: Env): SharedConfig & { edge: EdgeConfig; producer: ProducerConfig } {
  return { ...sharedConfig(env), edge: edgeConfigFromEnv(env), producer: producerSettings(env) };
}

/** Every declared setting, in README.md's order (`npm run docs:config` writes the table from it). */
export const configSections: readonly ConfigSection[] = [...sharedSections, ...edgeSections, producerSection];
