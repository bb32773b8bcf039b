import { adapters } from "../src/Adapters.ts"
import { suite } from "../src/suites/JetStreamSuite.ts"

for (const adapter of adapters) suite(adapter)
