// Compile VerazOrderToken.sol with the pinned solcjs (package.json) through standard JSON and
// write VerazOrderToken.json next to it: {abi, bytecode, deployedBytecode, compiler, settings}.
//
// Usage (from the repository root, after `npm ci`):
//   node anchoring/chains/contract/compile-token.mjs            # rewrite VerazOrderToken.json
//   node anchoring/chains/contract/compile-token.mjs --stdout   # print it instead (used by tests)
//
// Every setting that changes the bytecode is pinned here, so the committed JSON can be
// reproduced byte for byte: compiler version (checked below), optimizer, EVM version and
// metadata.bytecodeHash "none" (no IPFS/Swarm hash of the metadata, which would change with
// the source path and comments).
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')

const EXPECTED_COMPILER = '0.8.37'
const here = dirname(fileURLToPath(import.meta.url))
const sourceName = 'VerazOrderToken.sol'
const contractName = 'VerazOrderToken'

// "paris" (the Merge) is the newest EVM version without PUSH0 (shanghai) and the later
// opcodes, so the bytecode runs on Besu/LACChain networks configured for older forks, on
// py-evm and on anvil.
const settings = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: 'none', appendCBOR: true },
  outputSelection: {
    [sourceName]: { [contractName]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] }
  }
}

const version = solc.version()
if (!version.startsWith(EXPECTED_COMPILER + '+')) {
  console.error(`expected solc ${EXPECTED_COMPILER}, found ${version}: run npm ci`)
  process.exit(2)
}

const input = {
  language: 'Solidity',
  sources: { [sourceName]: { content: readFileSync(join(here, sourceName), 'utf8') } },
  settings
}
const output = JSON.parse(solc.compile(JSON.stringify(input)))
const errors = (output.errors || []).filter((e) => e.severity === 'error')
for (const e of output.errors || []) console.error(e.formattedMessage)
if (errors.length) process.exit(1)

const compiled = output.contracts[sourceName][contractName]
const { outputSelection, ...recordedSettings } = settings
const artifact = {
  contractName,
  abi: compiled.abi,
  bytecode: '0x' + compiled.evm.bytecode.object,
  deployedBytecode: '0x' + compiled.evm.deployedBytecode.object,
  compiler: { name: 'solc', version },
  settings: recordedSettings
}
const text = JSON.stringify(artifact, null, 2) + '\n'
if (process.argv.includes('--stdout')) {
  process.stdout.write(text)
} else {
  writeFileSync(join(here, contractName + '.json'), text)
}
