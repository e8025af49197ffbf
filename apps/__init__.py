"""Apps stage: the Gradio assistants (`apps.medical`: diagnosis assistant; `apps.finance`: compliance check) and the
OpenAI-compatible API (`apps.server`, with keys, quotas, usage and cost in `apps.keys`), behind one door
(`apps.door`). The apps and the API answer through the same engine (`apps.engine.Assistant`). Entry points:
`veritune app DOMAIN` and `veritune serve`; no other stage imports this one."""
