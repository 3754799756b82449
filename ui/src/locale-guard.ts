// Side-effect module: imported first by main.ts, before uplot is evaluated.
import { ensureValidNavigatorLanguage } from './locale';

ensureValidNavigatorLanguage();
