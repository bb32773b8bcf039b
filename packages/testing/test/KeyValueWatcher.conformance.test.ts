import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/KeyValueWatcherSuite.ts"

for (const adapter of adapters) suite(adapter)
