; plantsync for Windows: an Inno Setup 6 script (https://jrsoftware.org/isinfo.php).
;
; Build on Windows from the repository root:
;   cargo build --release --features tray
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" installer\windows\plantsync.iss
; which writes target\windows\plantsync-setup-<version>.exe. /DBinaryPath=... packages
; another binary, /DAppVersion=... sets the version (keep it equal to Cargo.toml's).
;
; What it installs (details in installer\README.md):
; - plantsync.exe under Program Files\plantsync, README and INSTALL beside it;
; - Start-menu entries: the tray, a console with `plantsync status`, the data folder, uninstall;
; - a startup entry for the tray (task "trayatlogon", all users);
; - the agent as a scheduled task "plantsync agent" at the logon of the user who runs setup
;   (task "agentatlogon"): `plantsync.exe run`, non-interactive (no console window, no
;   stored password). schtasks /Create cannot set "restart on failure": after a crash the
;   agent starts again at the next logon (or set it in Task Scheduler). plantsync is not a
;   Windows service (it does not speak to the service control manager), so no sc.exe.
; The uninstaller ends and deletes the task and removes the files; the data
; (%APPDATA%\plantsync\plantsync) stays.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef BinaryPath
  #define BinaryPath "..\..\target\release\plantsync.exe"
#endif
#define TaskName "plantsync agent"

[Setup]
AppId={{5B0F5C8E-2E4B-4C5A-9E0B-7C1D2A3F4B60}
AppName=plantsync
AppVersion={#AppVersion}
AppPublisher=plantsync
AppComments=Local-first agent that syncs solar plants and alerts from vendor portals into SQLite
DefaultDirName={autopf}\plantsync
DefaultGroupName=plantsync
DisableProgramGroupPage=yes
; Creating a logon-triggered task needs an administrator.
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\target\windows
OutputBaseFilename=plantsync-setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\plantsync.exe
ChangesEnvironment=no
CloseApplications=yes

[Tasks]
Name: "agentatlogon"; Description: "Start the agent (plantsync run) at logon, in the background"
Name: "trayatlogon"; Description: "Start the tray at logon"

[Files]
Source: "{#BinaryPath}"; DestDir: "{app}"; DestName: "plantsync.exe"; Flags: ignoreversion
Source: "..\..\README.md"; DestDir: "{app}"; DestName: "README.md"; Flags: ignoreversion
Source: "..\README.md"; DestDir: "{app}"; DestName: "INSTALL.md"; Flags: ignoreversion

[Icons]
Name: "{group}\plantsync tray"; Filename: "{app}\plantsync.exe"; Parameters: "tray"; Flags: runminimized
Name: "{group}\plantsync status"; Filename: "{cmd}"; Parameters: "/k ""{app}\plantsync.exe"" status"
Name: "{group}\plantsync data folder"; Filename: "{userappdata}\plantsync\plantsync\data"
Name: "{group}\Uninstall plantsync"; Filename: "{uninstallexe}"
Name: "{commonstartup}\plantsync tray"; Filename: "{app}\plantsync.exe"; Parameters: "tray"; Flags: runminimized; Tasks: trayatlogon

[Run]
; /NP: no password stored, the task runs non-interactively as that user (no window).
Filename: "{sys}\schtasks.exe"; Parameters: "/Create /F /SC ONLOGON /TN ""{#TaskName}"" /TR ""'{app}\plantsync.exe' run"" /RU ""{username}"" /NP /RL LIMITED"; Flags: runhidden waituntilterminated; Tasks: agentatlogon; StatusMsg: "Registering the agent's logon task..."
Filename: "{sys}\schtasks.exe"; Parameters: "/Run /TN ""{#TaskName}"""; Flags: runhidden waituntilterminated; Tasks: agentatlogon; StatusMsg: "Starting the agent..."
Filename: "{app}\plantsync.exe"; Parameters: "tray"; Description: "Start the tray now"; Flags: nowait postinstall skipifsilent runminimized; Tasks: trayatlogon

[UninstallRun]
Filename: "{sys}\schtasks.exe"; Parameters: "/End /TN ""{#TaskName}"""; Flags: runhidden waituntilterminated; RunOnceId: "EndAgentTask"
Filename: "{sys}\schtasks.exe"; Parameters: "/Delete /F /TN ""{#TaskName}"""; Flags: runhidden waituntilterminated; RunOnceId: "DeleteAgentTask"
Filename: "{sys}\taskkill.exe"; Parameters: "/IM plantsync.exe /T"; Flags: runhidden waituntilterminated; RunOnceId: "StopTray"
