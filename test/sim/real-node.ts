// The simulator's factory for the real core node.

import { TotemNode } from '../../src/totem/srp/totem-node';
import type { NodeFactory } from './cluster';

export const totemNodeFactory: NodeFactory = (init) => new TotemNode(init);
