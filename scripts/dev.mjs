#!/usr/bin/env node
// `pnpm dev` will start the local cluster (three controllers, three brokers) once the controller
// and broker exist (issue 7). Until then it says so and exits cleanly, so the quickstart works.
console.log(
  [
    'Millrace: the workspace is installed and built.',
    'The local cluster (3 controllers + 3 brokers) is not built yet, so there is nothing to start.',
    'Run the tests with: npx -y pnpm@10.34.8 install && npx -y pnpm@10.34.8 test',
  ].join('\n'),
);
