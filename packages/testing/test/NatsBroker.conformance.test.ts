import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/NatsBrokerSuite.ts"

for (const adapter of adapters) suite(adapter)
