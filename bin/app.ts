#!/usr/bin/env node
/**
 * The Lifeline CDK app. The config comes from $LIFELINE_CONFIG, else the `lifeline:config` context value
 * (`npx cdk synth -c lifeline:config=path`, default in cdk.json), relative to the working directory.
 * cdk-nag's AWS Solutions checks run with every synth: an unacknowledged finding stops it.
 */
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LifelineError } from '../lambdas/core/errors.js';
import { loadConfig } from '../lib/config/load.js';
import { addLifelineStacks } from '../lib/lifeline.js';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const configPath = resolve(process.env.LIFELINE_CONFIG ?? String(app.node.tryGetContext('lifeline:config') ?? 'bin/lifeline.config.json'));
try {
  addLifelineStacks(app, loadConfig(configPath));
} catch (error) {
  if (!(error instanceof LifelineError)) throw error;
  console.error(error.message);
  process.exit(1);
}
app.synth();
