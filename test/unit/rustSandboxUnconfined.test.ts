/**
 * The rust sandbox's first pass where rustc sees the whole file system (as where mount namespaces are
 * disabled): the same suite as test/unit/rustSandbox.test.ts's confined mode, in a file of its own so
 * the two modes run side by side.
 */
import { rustFirstPassSuite } from "../helpers/rustFirstPassSuite.ts";

rustFirstPassSuite("rustc seeing the whole file system (as where mount namespaces are disabled)", false);
