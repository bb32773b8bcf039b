import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/NatsBrokerMiddlewareSuite.ts"

for (const adapter of adapters) suite(adapter)
