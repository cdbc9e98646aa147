"""From an executed notebook to files: the exporters and their pages and decks
(exporters, pages), where each output goes (layout), writing it (outputs), and the
output folder that is nbbuild's alone (output_folder).
"""
