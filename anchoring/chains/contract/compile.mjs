// Compile the project's contracts with the pinned solcjs (package.json) through standard JSON
// and write each build next to its source: {abi, bytecode, deployedBytecode, compiler, settings}
// (plus immutableReferences for a contract with immutables).
//
//   VerazAnchor          anchoring/chains/contract/VerazAnchor.json
//   VerazRelayedAnchor   anchoring/chains/contract/VerazRelayedAnchor.json (+ RelayRecipient.sol)
//   VerazOrderToken      anchoring/chains/contract/VerazOrderToken.json (docs/tokens.md)
//   VerazRelayedOrderToken anchoring/chains/contract/VerazRelayedOrderToken.json (+ the two above)
//   LocalRelayHub        tests/anchoring/chains/contracts/LocalRelayHub.json (tests only)
//   LocalRelayFront      tests/anchoring/chains/contracts/LocalRelayFront.json (tests only)
//
// Usage (from the repository root, after `npm ci`):
//   node anchoring/chains/contract/compile.mjs                 # rewrite every build
//   node anchoring/chains/contract/compile.mjs --stdout        # print VerazAnchor.json (tests)
//   node anchoring/chains/contract/compile.mjs --stdout NAME   # print NAME's build (tests)
//   node anchoring/chains/contract/compile.mjs --check         # exit 1 if a build is stale
//
// Every setting that changes the bytecode is pinned here, so the committed JSON can be
// reproduced byte for byte: compiler version (checked below), optimizer, EVM version and
// metadata.bytecodeHash "none" (no IPFS/Swarm hash of the metadata, which would change with
// the source path and comments). Each contract is compiled alone with only the sources it
// needs, so adding a contract never changes another one's build.
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')

const EXPECTED_COMPILER = '0.8.37'
const here = dirname(fileURLToPath(import.meta.url))
const testContracts = join(here, '..', '..', '..', 'tests', 'anchoring', 'chains', 'contracts')
const targets = {
  VerazAnchor: { dir: here, sources: ['VerazAnchor.sol'] },
  VerazRelayedAnchor: { dir: here, sources: ['RelayRecipient.sol', 'VerazRelayedAnchor.sol'] },
  VerazOrderToken: { dir: here, sources: ['VerazOrderToken.sol'] },
  VerazRelayedOrderToken: {
    dir: here,
    sources: ['RelayRecipient.sol', 'VerazOrderToken.sol', 'VerazRelayedOrderToken.sol']
  },
  LocalRelayHub: { dir: testContracts, sources: ['LocalRelayHub.sol'] },
  LocalRelayFront: { dir: testContracts, sources: ['LocalRelayFront.sol'] }
}

// "paris" (the Merge) is the newest EVM version without PUSH0 (shanghai) and the later
// opcodes, so the bytecode runs on Besu/LACChain networks configured for older forks, on
// py-evm and on anvil.
const recordedSettings = {
  evmVersion: 'paris',
  optimizer: { enabled: true, runs: 200 },
  metadata: { bytecodeHash: 'none', appendCBOR: true }
}

const version = solc.version()
if (!version.startsWith(EXPECTED_COMPILER + '+')) {
  console.error(`expected solc ${EXPECTED_COMPILER}, found ${version}: run npm ci`)
  process.exit(2)
}

function build (contractName) {
  const { dir, sources } = targets[contractName]
  const sourceName = contractName + '.sol'
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(sources.map((name) => [name, { content: readFileSync(join(dir, name), 'utf8') }])),
    settings: {
      ...recordedSettings,
      outputSelection: {
        [sourceName]: {
          [contractName]: ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.deployedBytecode.immutableReferences']
        }
      }
    }
  }
  const output = JSON.parse(solc.compile(JSON.stringify(input)))
  const errors = (output.errors || []).filter((e) => e.severity === 'error')
  for (const e of output.errors || []) console.error(e.formattedMessage)
  if (errors.length) process.exit(1)

  const compiled = output.contracts[sourceName][contractName]
  const artifact = {
    contractName,
    abi: compiled.abi,
    bytecode: '0x' + compiled.evm.bytecode.object,
    deployedBytecode: '0x' + compiled.evm.deployedBytecode.object
  }
  // Byte ranges of the deployed code that the constructor fills in (immutables): a verifier
  // compares the code at an address with deployedBytecode outside them.
  const immutables = Object.values(compiled.evm.deployedBytecode.immutableReferences || {}).flat()
  if (immutables.length) {
    artifact.immutableReferences = immutables.sort((a, b) => a.start - b.start)
  }
  artifact.compiler = { name: 'solc', version }
  artifact.settings = recordedSettings
  return { path: join(dir, contractName + '.json'), text: JSON.stringify(artifact, null, 2) + '\n' }
}

const stdoutAt = process.argv.indexOf('--stdout')
if (stdoutAt >= 0) {
  const name = process.argv[stdoutAt + 1] || 'VerazAnchor'
  if (!(name in targets)) {
    console.error(`unknown contract ${name}; known: ${Object.keys(targets).join(', ')}`)
    process.exit(2)
  }
  process.stdout.write(build(name).text)
} else if (process.argv.includes('--check')) {
  let stale = 0
  for (const name of Object.keys(targets)) {
    const { path, text } = build(name)
    let committed = null
    try {
      committed = readFileSync(path, 'utf8')
    } catch {}
    if (committed !== text) {
      console.error(`${path} is stale: run node anchoring/chains/contract/compile.mjs and commit`)
      stale += 1
    }
  }
  process.exit(stale ? 1 : 0)
} else {
  for (const name of Object.keys(targets)) {
    const { path, text } = build(name)
    writeFileSync(path, text)
  }
}
