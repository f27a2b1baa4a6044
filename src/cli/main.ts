#!/usr/bin/env node
import { userMessage, verboseMessage } from './error-message.js';
import { buildProgram } from './program.js';

// grpc-js passes the IP of an `https://127.0.0.1:port` endpoint as the TLS server name, which Node reports as
// deprecated (DEP0123) on every connection. The certificate is still verified against the IP SAN; the warning
// only clutters the output of every command.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
  const opt = rest[0];
  const code = typeof opt === 'object' && opt !== null ? (opt as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...a: unknown[]) => void)(warning, ...rest);
};

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    console.error(`Error: ${userMessage(err)}`);
    if (process.argv.includes('--verbose')) console.error(verboseMessage(err));
    process.exitCode = 1;
  });
