import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/NatsBrokerJetStreamSuite.ts"

for (const adapter of adapters) suite(adapter)
