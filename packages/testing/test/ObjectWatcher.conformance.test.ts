import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/ObjectWatcherSuite.ts"

for (const adapter of adapters) suite(adapter)
